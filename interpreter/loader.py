"""Files -> parsed modules: imports, project-root confinement, import cycles.

``load_paths`` reads the files a command names, follows their imports
(``import "rel/path.campaign"`` relative to the importing file;
``import std "name"`` from the ``campaignlang.stdlib`` package) and returns
every module in dependency order (imports before importers, each file once),
with CL002 diagnostics for an import that is missing, leaves the project root
(through ``..`` or a symbolic link) or closes a cycle.

The project root (docs/language.md, "Imports") is the nearest folder above the
first file that holds ``campaign.toml``, ``pyproject.toml`` or ``.git``; failing
that, the first file's own folder. A missing or unreadable *top-level* file is
a ``LoadError`` (the command line exits 2), not a diagnostic.

Imports ``source``, ``errors``, ``ast``, ``parse``.
"""

from __future__ import annotations

import difflib
import errno
import os
import stat
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

from attrs import frozen

from . import ast
from .errors import Diagnostic, LoadError, Related, error
from .parse import ParseResult, parse
from .source import SourceFile, Span

ROOT_MARKERS = ("campaign.toml", "pyproject.toml", ".git")
STD_PREFIX = "<std>/"


@frozen
class Loaded:
    """Every module reached, imports first; their sources; CL001/CL002."""

    results: tuple[ParseResult, ...]
    diagnostics: tuple[Diagnostic, ...]
    root: Path | None

    @property
    def modules(self) -> tuple[ast.Module, ...]:
        return tuple(r.module for r in self.results)

    @property
    def sources(self) -> dict[str, SourceFile]:
        return {r.source.name: r.source for r in self.results}

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


def std_modules() -> list[str]:
    """Names of the library modules ``import std "..."`` can load."""
    pkg = resources.files("campaignlang.stdlib")
    return sorted(p.name[: -len(".campaign")] for p in pkg.iterdir() if p.name.endswith(".campaign"))


def find_root(path: Path) -> Path:
    try:
        start = path.resolve().parent
    except (OSError, RuntimeError, ValueError):   # a link loop: the link's own folder
        start = Path(os.path.abspath(path)).parent
    for folder in (start, *start.parents):
        if any((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    return start


def display_name(path: Path) -> str:
    """How the loader names a file in spans and messages: relative to the
    current folder when under it, else absolute."""
    try:
        rel = os.path.relpath(path, Path.cwd())
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


def read_text(path: Path) -> str:
    try:
        # A FIFO, socket or device named *.campaign would block the read or
        # never end: only regular files are read (docs/security.md).
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise LoadError(f"{path} is not a regular file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise LoadError(f"{path} is a folder, not a .campaign file") from None
    except UnicodeDecodeError as exc:
        raise LoadError(f"{path} is not UTF-8 text (byte {exc.start})") from None
    except (OSError, ValueError) as exc:   # a link loop, a name too long, a NUL byte
        raise LoadError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None


@frozen
class Scan:
    """The .campaign files a command names, folders expanded, and the paths
    a folder scan found but will not read, each with its reason."""

    files: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]


def _within(path: Path, root: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError, ValueError):
        return False


def scan_folder(folder: Path) -> Scan:
    """Every ``*.campaign`` regular file under ``folder``, sorted, and what
    was skipped. The walk never leaves the folder's project root
    (docs/security.md, "Folder scans"): a symbolic link is read only when it
    resolves to a regular file inside the root; a link loop, a link out of
    the root, a FIFO, socket or device is skipped with its reason; a folder
    named ``x.campaign`` is a folder (its files are scanned); symbolic links
    to folders are not entered (as git does), so the walk always ends."""
    root = find_root(folder / "_")
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for top, dirs, names in os.walk(folder, followlinks=False, onerror=None):
        dirs.sort()
        base = Path(top)
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(top, d))]):
            if not name.endswith(".campaign"):
                continue
            path = base / name
            reason = _unreadable(path, root)
            if reason is None:
                files.append(path)
            elif reason:
                skipped.append((path, reason))
    return Scan(tuple(files), tuple(skipped))


def _unreadable(path: Path, root: Path) -> str | None:
    """Why a scanned path is not read ("" to skip it silently), or None."""
    try:
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except RuntimeError:
                return "a symbolic link loop"
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return "a symbolic link loop"
                return "a symbolic link to nothing"
            if not target.is_relative_to(root):
                return f"a symbolic link leading outside the project root {display_name(root)}/"
            if target.is_dir():
                return ""   # a linked folder is not entered
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as exc:
        return f"cannot be read: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(mode):
        return ""
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO, socket or device)"
    return None


def expand_paths(paths: Sequence[str | os.PathLike]) -> Scan:
    """The files named, folders scanned (`scan_folder`). Raises ``LoadError``
    for a named path that does not exist."""
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = scan_folder(path)
            files.extend(found.files)
            skipped.extend(found.skipped)
        elif not os.path.lexists(path):
            raise LoadError(f"no such file: {p}")
        else:
            files.append(path)
    return Scan(tuple(files), tuple(skipped))


def write_inside_root(path: Path, text: str) -> None:
    """Write ``text`` over the regular file ``path`` (``campaign fmt``), but
    only when the file it names lies inside its project root: a symbolic
    link out of the root is never written through. Raises ``LoadError``."""
    try:
        target = path.resolve(strict=True)
        root = find_root(Path(os.path.abspath(path)).parent / "_")   # the link's folder, not its target's
        if not target.is_relative_to(root):
            raise LoadError(f"not written: {path} is a symbolic link leading outside the project root")
        if not stat.S_ISREG(os.stat(target).st_mode):
            raise LoadError(f"not written: {path} is not a regular file")
        target.write_text(text, encoding="utf-8")
    except (OSError, RuntimeError, ValueError) as exc:
        raise LoadError(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}") from None


def skipped_diagnostic(path: Path, reason: str) -> Diagnostic:
    """CL002 for a path a folder scan will not read: no excerpt, only the path."""
    name = str(path)
    return error("CL002", f"not read: {name} is {reason}", Span(name, 0, 0, 1, 1, 1, 1),
                 hint="folder scans read regular .campaign files inside the project root only")


class Loader:
    def __init__(self, root: Path | None):
        self.root = root.resolve() if root else None
        self.results: list[ParseResult] = []
        self.diags: list[Diagnostic] = []
        self.done: dict[str, ParseResult] = {}   # key: resolved path or std name
        self.stack: list[str] = []

    def load_file(self, path: Path, display: str | None = None) -> None:
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError):   # Python 3.11: a link loop is a RuntimeError
            raise LoadError(f"cannot read {path}: a symbolic link loop") from None
        key = str(resolved)
        if key in self.done or key in self.stack:
            return
        text = self.read(key, path)
        self.load(key, text, display or display_name(path), resolved.parent)

    def read(self, key: str, path: Path) -> str:
        """The text of a file (a hook: the REPL reads each file once)."""
        return read_text(path)

    def parse(self, text: str, name: str) -> ParseResult:
        """The parse of a file's text (a hook: the REPL caches parses)."""
        return parse(text, name)

    def load(self, key: str, text: str, name: str, folder: Path | None) -> None:
        result = self.parse(text, name)
        self.done[key] = result
        self.stack.append(key)
        for imp in result.module.of(ast.Import):
            self.follow(imp, folder, result)
        self.stack.pop()
        self.results.append(result)
        self.diags.extend(result.diagnostics)

    def follow(self, imp: ast.Import, folder: Path | None, importer: ParseResult) -> None:
        span = imp.span
        if imp.std:
            names = std_modules()
            if imp.path not in names:
                close = difflib.get_close_matches(imp.path, names, n=1)
                self.diags.append(error("CL002", f"no library module std \"{imp.path}\"", span,
                                        hint=(f"did you mean \"{close[0]}\"?" if close
                                              else "library modules: " + ", ".join(names))))
                return
            key = STD_PREFIX + imp.path
            if key in self.stack:
                self.cycle(key, imp)
                return
            if key not in self.done:
                text = resources.files("campaignlang.stdlib").joinpath(imp.path + ".campaign").read_text("utf-8")
                self.load(key, text, key + ".campaign", None)
            return
        if folder is None:
            self.diags.append(error("CL002", "a library module can only import other library modules", span))
            return
        target = folder / imp.path
        try:
            resolved = target.resolve()
            exists = resolved.is_file()
        except (OSError, ValueError, RuntimeError) as exc:   # too long, NUL, a symlink loop
            reason = getattr(exc, "strerror", None) or str(exc)
            self.diags.append(error("CL002", f"cannot import \"{imp.path[:80]}\": {reason}", span))
            return
        if self.root is not None and not resolved.is_relative_to(self.root):
            lexical = Path(os.path.normpath(target))
            how = " through a symbolic link" if lexical.is_relative_to(self.root) else ""
            self.diags.append(error("CL002", f"import \"{imp.path}\" leaves the project root{how}", span,
                                    hint=f"imports must stay under {display_name(self.root)}/"))
            return
        key = str(resolved)
        if key in self.stack:
            self.cycle(key, imp)
            return
        if key in self.done:
            return
        if resolved.suffix != ".campaign":
            self.diags.append(error("CL002", f"import \"{imp.path}\" is not a .campaign file", span,
                                    hint="imports read .campaign files only"))
            return
        if not exists:
            candidates = sorted(p.name for p in resolved.parent.glob("*.campaign")) if resolved.parent.is_dir() else []
            close = difflib.get_close_matches(resolved.name, candidates, n=1)
            self.diags.append(error("CL002", f"import not found: \"{imp.path}\"", span,
                                    hint=f"did you mean \"{close[0]}\"?" if close else None))
            return
        try:
            self.load_file(resolved, display_name(resolved))
        except LoadError as exc:
            self.diags.append(error("CL002", str(exc), span))

    def cycle(self, key: str, imp: ast.Import) -> None:
        chain = self.stack[self.stack.index(key):]
        names = [self.done[k].source.name for k in chain] + [self.done[key].source.name]
        related = []
        for k in chain[1:]:
            res = self.done[k]
            for other in res.module.of(ast.Import):
                related.append(Related(f"imported from {res.source.name}", other.span))
                break
        self.diags.append(error("CL002", "import cycle: " + " -> ".join(names), imp.span,
                                hint="move what both files need into a third file that neither imports back",
                                related=related))


def campaign_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The files the paths of a command name: a file as given, a folder every
    ``.campaign`` file under it (sorted), each file once. Nothing selected is
    a ``LoadError`` (exit 2 in every command: docs/language.md, "What a
    command selects")."""
    if not paths:
        raise LoadError("no files given")
    return list(campaign_scan(paths).files)


def campaign_scan(paths: Sequence[str | os.PathLike]) -> Scan:
    """``campaign_files`` and the paths its folder scans will not read
    (``scan_folder``): a command reports each of those (CL002) and goes on.
    Nothing selected and nothing skipped is a ``LoadError``."""
    if not paths:
        raise LoadError("no files given")
    scan = expand_paths(paths)
    files: list[Path] = []
    seen: set[str] = set()
    for f in scan.files:
        try:
            key = str(f.resolve())
        except (OSError, RuntimeError, ValueError):   # a named link loop: read_text says it
            key = os.path.abspath(f)
        if key not in seen:
            seen.add(key)
            files.append(f)
    if not files and not scan.skipped:
        raise LoadError(f"no .campaign files in {', '.join(str(p) for p in paths)}")
    return Scan(tuple(files), scan.skipped)


class _HookedLoader(Loader):
    """The loader's rules with another source of text and of parses (an
    editor's open documents and its parse cache)."""

    def __init__(self, root: Path | None, read: Callable[[Path], str] | None,
                 parse_file: Callable[[str, str], ParseResult] | None):
        super().__init__(root)
        self._read, self._parse = read, parse_file

    def read(self, key: str, path: Path) -> str:
        return self._read(path) if self._read is not None else read_text(path)

    def parse(self, text: str, name: str) -> ParseResult:
        return self._parse(text, name) if self._parse is not None else parse(text, name)


def load_paths(paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None, *,
               read: Callable[[Path], str] | None = None,
               parse_file: Callable[[str, str], ParseResult] | None = None) -> Loaded:
    """Load the named files and everything they import. Raises ``LoadError``
    only for a top-level file that cannot be read. ``read`` (a path -> its
    text, raising ``LoadError``) and ``parse_file`` (text, name -> parse)
    replace reading and parsing: an editor passes its unsaved documents and
    its cache of parses."""
    scan = campaign_scan(paths)
    files = scan.files
    first = files[0] if files else scan.skipped[0][0]
    loader = _HookedLoader(Path(root) if root else find_root(first), read, parse_file)
    for f in files:
        loader.load_file(f, str(f) if not f.is_absolute() else display_name(f))
    loader.diags.extend(skipped_diagnostic(p, why) for p, why in scan.skipped)
    diags = sorted(set(loader.diags), key=Diagnostic.sort_key)
    return Loaded(tuple(loader.results), tuple(diags), loader.root)


def load_text(text: str, name: str = "<input>", root: str | os.PathLike | None = None) -> Loaded:
    """Load a program given as text; relative imports resolve against ``root``
    (default: the current folder)."""
    base = Path(root) if root else Path.cwd()
    loader = Loader(base)
    loader.load("<text>:" + name, text, name, base)
    diags = sorted(set(loader.diags), key=Diagnostic.sort_key)
    return Loaded(tuple(loader.results), tuple(diags), loader.root)


class _SharedLoader(Loader):
    """A loader whose parses are shared with the other loaders of one
    command (``load_each``): a file imported by many is parsed once."""

    def __init__(self, root: Path | None, cache: dict[tuple[str, str], ParseResult]):
        super().__init__(root)
        self.cache = cache

    def parse(self, text: str, name: str) -> ParseResult:
        hit = self.cache.get((name, text))
        if hit is None:
            hit = self.cache[(name, text)] = parse(text, name)
        return hit


def load_each(paths: Sequence[str | os.PathLike], root: str | os.PathLike | None = None) -> list[Loaded]:
    """One ``Loaded`` per file the paths select (``campaign_files``), each
    with its own imports only. This is the one rule of what a file sees
    (docs/language.md, "What a file sees"): itself and what it imports,
    never a file beside it that it does not import."""
    scan = campaign_scan(paths)
    files = scan.files
    base = Path(root) if root else find_root(files[0] if files else scan.skipped[0][0])
    cache: dict[tuple[str, str], ParseResult] = {}
    # a path the scan will not read is a Loaded of its own: an empty file of
    # that name (its text is never read) holding its CL002
    out = [Loaded((parse("", str(p)),), (skipped_diagnostic(p, why),), base) for p, why in scan.skipped]
    for f in files:
        loader = _SharedLoader(base, cache)
        loader.load_file(f, str(f) if not f.is_absolute() else display_name(f))
        diags = sorted(set(loader.diags), key=Diagnostic.sort_key)
        out.append(Loaded(tuple(loader.results), tuple(diags), loader.root))
    return out


def entry_points(loads: Sequence[Loaded]) -> list[Loaded]:
    """The loads of ``load_each`` whose file no other selected file imports
    (a folder's entry files); all of them when imports loop."""
    def own(load: Loaded) -> str:
        return load.results[-1].source.name if load.results else ""

    imported: set[str] = set()
    for load in loads:
        imported.update(r.source.name for r in load.results[:-1])
    entries = [load for load in loads if own(load) not in imported]
    return entries or list(loads)
