"""Marketo interchange: what a real Marketo Engage instance holds, read into
the campaign language (``campaign import marketo``), compared with a project
(``campaign drift``) and its activity exports replayed through the simulator
(``campaign replay``).

``tables`` is the one place for Marketo's ids and names; the other modules of
this package read it and never spell a Marketo id or rule name themselves.
Nothing here imports ``cli`` (the only module that imports click).
"""
