"""The user's files as a traceback or an import failure names them: loadgen
shows the user's own frames, located in the user's own files.

Imported by path, like every sibling of the harness (see `harness.sibling`).
"""

import linecache
import os
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))


def is_loadgens(filename):
    """Whether `filename` is the harness or one of its siblings (written
    beside it, as `loadgen_*.py`), whose frames a user has no use for."""
    path = os.path.abspath(filename)
    name = os.path.basename(path)
    return os.path.dirname(path) == HERE and (name == "harness.py" or name.startswith("loadgen_"))


def user_traceback(error):
    """The traceback of an error in the user's code, without the harness's frames."""
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if not is_loadgens(f.filename) and not f.filename.startswith("<frozen")
    ]
    return "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) + "".join(
        traceback.format_exception_only(type(error), error)
    )


def in_users_files(filename, locustfile, base_dir):
    """Whether `filename` is the user's: the locustfile or a module beside it
    (not an installed package)."""
    path = os.path.abspath(filename)
    if path == os.path.abspath(locustfile):
        return True
    root = os.path.join(os.path.abspath(base_dir), "") if base_dir else None
    return bool(root) and path.startswith(root) and "site-packages" not in path


def import_failure(error, locustfile, base_dir):
    """Where importing the locustfile failed, in the user's own files: a syntax
    error's own place, else the innermost frame of the traceback in the
    locustfile or beside it (not in an installed package)."""

    def users(filename):
        return in_users_files(filename, locustfile, base_dir)

    file = line = column = None
    if isinstance(error, SyntaxError) and error.filename and users(error.filename):
        # Python counts a syntax error's offset in characters, from 1.
        file, line, column = error.filename, error.lineno, error.offset
        message = f"{type(error).__name__}: {error.msg}"
    else:
        message = f"{type(error).__name__}: {error}"
        frames = [f for f in traceback.extract_tb(error.__traceback__) if users(f.filename)]
        if frames:
            frame = frames[-1]
            file, line = frame.filename, frame.lineno
            if getattr(frame, "colno", None) is not None:
                # A frame's column is a UTF-8 byte offset from 0: in characters, from 1.
                text = linecache.getline(frame.filename, frame.lineno).encode("utf-8")
                column = len(text[: frame.colno].decode("utf-8", "replace")) + 1
    return {
        "message": message,
        "file": file,
        "line": line,
        "column": column,
        "traceback": user_traceback(error),
    }


def in_on_start(greenlets, is_users_file):
    """The users still in their `on_start`, by class and the place in the
    user's files where they wait."""
    waiting = {}
    for g in list(greenlets):
        frame = getattr(g, "gr_frame", None)
        stack = []
        while frame is not None:
            stack.append(frame)
            frame = frame.f_back
        user_frames = [f for f in stack if is_users_file(f.f_code.co_filename)]
        if not any(f.f_code.co_name == "on_start" for f in user_frames):
            continue
        user = g.args[0] if g.args else None
        key = (type(user).__name__, user_frames[0].f_code.co_filename, user_frames[0].f_lineno)
        waiting[key] = waiting.get(key, 0) + 1
    return [{"class": c, "users": n, "file": f, "line": l} for (c, f, l), n in waiting.items()]


def merge_users(parts):
    """The users at the end of several processes, merged by class and place:
    (in on_start, crashed), sorted."""
    in_on_start, crashed = {}, {}
    for part in parts:
        for u in part["in_on_start"]:
            key = (u["class"], u["file"], u["line"])
            in_on_start[key] = in_on_start.get(key, 0) + u["users"]
        for u in part["crashed"]:
            key = (u["class"], u["during"], u["message"], u["file"], u["line"])
            crashed[key] = crashed.get(key, 0) + u["users"]
    return (
        [{"class": c, "users": n, "file": f, "line": l} for (c, f, l), n in sorted(in_on_start.items(), key=str)],
        [
            {"class": c, "during": d, "users": n, "message": m, "file": f, "line": l}
            for (c, d, m, f, l), n in sorted(crashed.items(), key=str)
        ],
    )
