"""The `qa` command: a thin layer over qa.engine, qa.training and qa.evaluation.

Heavy libraries are imported inside the commands, so `--help` is instant and
training runs on machines that have only torch and transformers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from qa.config import FILE_TYPES, SEEDS_DIR, Config, default_index_dir
from qa.errors import INTERNAL_EXIT_CODE, InputError, QAError, one_line


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line (and exit status 2), like every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        # one line whatever the arguments held: line breaks and other control characters shown escaped
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"error: {shown} (see `{self.prog} --help`)\n")


def _number(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False) -> Any:
    """An argparse type: a finite number of `kind` within [low, high] (or (low, high] with `low_open`)."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a{'n integer' if kind is int else ' number'}"
            ) from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if low_open else 'at least'} {low:g}, not {text}"
            )
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text}")
        return value

    return parse


INT8_HELP = (
    "run the reader and the embedding model in int8 on ONNX Runtime (the default on CPU; no torch "
    "needed to answer); --no-int8 runs both in fp32 in torch: reading about twice as slow and a little "
    "more accurate (the reader's model card has the figures); an index keeps the precision it was built with"
)


def _engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--index-dir",
        type=Path,
        default=None,
        help="index directory (default: $QA_INDEX_DIR; else index/ in a checkout of this project; "
        "else index/ in your data folder, e.g. ~/.local/share/qa-news/index)",
    )
    p.add_argument(
        "--embedding-model",
        help="sentence-transformers model name or path (default: the packaged all-MiniLM-L6-v2)",
    )
    p.add_argument(
        "--reader-model", help="question-answering model name or path (default: the shipped reader)"
    )
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, help=INT8_HELP)
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _ray_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        type=_ray_address,
        help="read the files and embed the passages on Ray (pip install 'qa-news[ray]'): without ADDRESS on a "
        "local Ray runtime started for this command; with `auto` or ray://HOST:10001 on that cluster, "
        'whose nodes must all see --index-dir (see docs/design.md, "Ingesting on a Ray cluster")',
    )
    p.add_argument(
        "--ray-workers",
        type=_number(int, 1),
        default=2,
        metavar="N",
        help="encoder actors on Ray, one CPU and one copy of the model each (default 2)",
    )
    p.add_argument(
        "--ray-batch-size",
        type=_number(int, 1),
        default=1000,
        metavar="N",
        help="passages per Ray batch, and per segment file (default 1000)",
    )


def _ray_address(text: str) -> str:
    """An argparse type: `auto`, ray://HOST:PORT or HOST:PORT (a path here is a file list put after --ray)."""
    import re

    if text in ("", "auto") or re.fullmatch(r"(ray://)?[\w.\-\[\]:]+:\d+", text):
        return text
    raise argparse.ArgumentTypeError(
        f"takes a cluster address (auto, ray://HOST:10001 or HOST:PORT), not {text!r}; "
        "put the files before --ray"
    )


def _ray(args: argparse.Namespace) -> Any:
    """The Ray options asked for, or None."""
    if args.ray is None:
        return None
    from qa.distributed import RayOptions

    return RayOptions(args.ray or None, args.ray_workers, args.ray_batch_size)


def _config(args: argparse.Namespace) -> Config:
    config = _configured(args)
    from qa.assembly import RankerOff, ranker_note

    note = ranker_note(config)
    if note:  # said here in one line; the engine's warning of it would repeat it with a file and line
        print(note, file=sys.stderr)
        warnings.filterwarnings("ignore", category=RankerOff)
    return config


def _configured(args: argparse.Namespace) -> Config:
    return Config().with_(
        embedding_model=getattr(args, "embedding_model", None),
        reader_model=getattr(args, "reader_model", None),
        top_k=getattr(args, "top_k", None),
        retrieval=getattr(args, "retrieval", None),
        no_answer_threshold=getattr(args, "threshold", None),
        device=getattr(args, "device", None),
        approximate=True if getattr(args, "approximate", False) else None,
        reader_int8=getattr(args, "int8", None),
        encoder_int8=getattr(args, "int8", None),
        recency=getattr(args, "recency", None),
    )


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def _report_files(report: Any) -> int:
    """One line per file that failed or was passed over; exit status 1 if any failed."""
    for path in report.skipped:
        print(f"skipped: {path} (not a {FILE_TYPES} file)", file=sys.stderr)
    for path in report.links:
        print(f"skipped: {path} (a link leading out of the folder; never followed)", file=sys.stderr)
    for _, reason in report.failed:
        print(f"failed: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_index_build(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    paths = args.paths or [SEEDS_DIR]
    engine = Engine.build(
        paths,
        args.index_dir,
        _config(args),
        progress=not args.quiet,
        force=args.force,
        strict=args.strict,
        ray=_ray(args),
        fetch_pages=args.fetch_pages,
    )
    assert engine.report is not None  # a build always reports
    status = _report_files(engine.report)
    print(f"Built {args.index_dir}: {engine.stats().describe()}{engine.report.files_note()}")
    return status


def cmd_index_add(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.open(args.index_dir, _config(args), progress=not args.quiet)
    report = engine.add(args.paths, strict=args.strict, ray=_ray(args), fetch_pages=args.fetch_pages)
    status = _report_files(report)
    print(f"{report.describe()} Index now: {engine.stats().describe()}")
    return status


def cmd_index_remove(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.open(args.index_dir, _config(args), progress=not args.quiet)
    removed = engine.remove(args.ids)
    print(f"Removed {removed} article(s). Index now: {engine.stats().describe()}")
    return 0


def cmd_index_info(args: argparse.Namespace) -> int:
    from qa.articles import is_iso_date
    from qa.engine import Engine

    engine = Engine.open(args.index_dir, _config(args), progress=False)
    stats = engine.stats()
    if args.json:
        counts = engine.passage_counts()
        _print_json(
            {
                "stats": asdict(stats),
                "articles": [
                    {
                        k: v
                        for k, v in {
                            **asdict(a),
                            "passages": counts.get(a.id, 0),
                            "date_readable": is_iso_date(a.date) if a.date else None,
                        }.items()
                        if k != "text"
                    }
                    for a in engine.articles()
                ],
            }
        )
        return 0
    print(stats.describe())
    for segment in stats.segments:
        print(
            f"  segment {segment.number}: {segment.vectors} vectors ({segment.kind}"
            + (f", {segment.removed} removed" if segment.removed else "")
            + f"), {segment.bytes / 1e6:.1f} MB"
        )
    undated = [a for a in engine.articles() if a.date and not is_iso_date(a.date)]
    if undated:
        print(
            f"{len(undated)} article(s) with a date that could not be read (kept as written): "
            + ", ".join(f"{a.id} ({a.date!r})" for a in undated[:5])
            + (" ..." if len(undated) > 5 else "")
        )
    for members in engine.stories().values():
        print(
            f"One story, {len(members)} articles (syndicated copies, searched once): "
            + ", ".join(a.id + (f" [{a.source}]" if a.source else "") for a in members)
        )
    for a in engine.articles(text=False):
        print(
            f"  {a.id}  {a.title}"
            + (f"  ({a.date})" if a.date else "")
            + (f"  [{a.source}]" if a.source else "")
            + (f"  <{a.url}>" if a.url and a.url != a.id else "")
        )
    return 0


def cmd_index_check(args: argparse.Namespace) -> int:
    from qa.engine import Engine
    from qa.layout import unsafe_entries

    unsafe = unsafe_entries(Path(args.index_dir)) if Path(args.index_dir).is_dir() else []
    for line in unsafe:  # named before anything is opened: a link leads elsewhere, a FIFO would hang
        print(f"problem: {line}: an index opens only regular files inside its own folder", file=sys.stderr)
    if unsafe:
        print(
            f"{len(unsafe)} problem(s) in {args.index_dir}; remove them (nothing was read through them), then "
            f"`qa index rebuild --index-dir {args.index_dir}`, or build the index again.",
            file=sys.stderr,
        )
        return 1
    engine = Engine.open(args.index_dir, _config(args), progress=False)
    if _problems(
        engine,
        f"{{n}} problem(s) in {args.index_dir}; `qa index rebuild --index-dir {args.index_dir}` "
        "rebuilds the BM25 index and damaged vector segments from the database.",
        args.quick,
    ):
        return 1
    print(f"{args.index_dir} is sound: {engine.stats().describe()}")
    return 0


def _problems(engine: Any, advice: str, quick: bool = False) -> bool:
    """Print engine.check()'s problems, one a line, then `advice` (with {n}, their number); True if any."""
    problems = engine.check(quick)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    if problems:
        print(advice.replace("{n}", str(len(problems))), file=sys.stderr)
    return bool(problems)


def cmd_index_rebuild(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.open(args.index_dir, _config(args), progress=not args.quiet)
    print(engine.rebuild())
    return (
        1
        if _problems(
            engine, "Some problems remain; build the index again from the articles with `qa index build`."
        )
        else 0
    )


def cmd_index_optimize(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.open(args.index_dir, _config(args), progress=False)
    merged = engine.optimize()
    print(f"Merged {merged} segment(s). Index now: {engine.stats().describe()}")
    return 0


def cmd_index_upgrade(args: argparse.Namespace) -> int:
    from qa.engine import Engine

    engine = Engine.upgrade(args.index_dir, _config(args), progress=not args.quiet)
    print(
        f"Converted {args.index_dir} to format {engine.stats().format_version}: {engine.stats().describe()}"
    )
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    import time

    from qa.engine import Engine

    if (args.question is None) == (args.file is None):
        raise InputError("Ask one question, or pass --file QUESTIONS for many (not both).")
    questions = _read_questions(args.file) if args.file else []
    started = time.perf_counter()
    engine = Engine.open_or_seed(args.index_dir, _config(args), progress=not args.quiet)
    engine.warm_up()
    load = time.perf_counter() - started
    if args.file:
        return _ask_file(engine, questions, args, load)
    result = engine.ask(
        args.question,
        top_k=args.top_k,
        retrieval=args.retrieval,
        filters=_filters(args),
        always_answer=args.always_answer,
    )
    result.seconds = {"load": load, **result.seconds}
    if args.verbose:
        print(_timings(result.seconds), file=sys.stderr)
        print(_how_read(result), file=sys.stderr)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.describe())
    return 0


def _how_read(result: Any) -> str:
    """How the question's type and time words were read, and whether the articles found had dates to weigh."""
    from qa.answer_types import expected_type
    from qa.assembly import newest_day
    from qa.dates import how_read

    line = how_read(
        result.question, result.asked_as_of or newest_day(result.passages), expected_type(result.question)
    )
    if result.passages and not any(h.article.date for h in result.passages):
        line += " The articles found have no dates: time is not weighed."
    return line


def _filters(args: argparse.Namespace) -> Any:
    from qa.retrieval import Filters

    filters = Filters(
        sources=args.source or [],
        date_from=args.since,
        date_to=args.until,
        as_of=getattr(args, "as_of", None),
    )
    return filters if filters else None


def _date(text: str) -> str:
    """An argparse type: a date in any common form, as ISO 8601 (refused if it cannot be read as one)."""
    from qa.articles import read_date

    try:
        return read_date(text) or ""
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def _timings(seconds: dict[str, float]) -> str:
    return "seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in seconds.items())


def _read_questions(path: Path) -> list[dict[str, Any]]:
    """Questions from a file: one a line, or JSONL objects with "question" and optional "top_k" and "as_of".

    A malformed line becomes a row with its `error`, answered as such; the other lines are still asked.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{path} could not be read as UTF-8 text ({type(exc).__name__}); pass a file of questions."
        ) from None
    questions = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                questions.append(
                    {"line": n, "error": f"line {n} is not valid JSON; write one JSON object a line."}
                )
                continue
            if not isinstance(record, dict) or not isinstance(record.get("question"), str):
                questions.append({"line": n, "error": f'line {n} has no "question" text.'})
                continue
            questions.append(
                {
                    "question": record["question"],
                    "top_k": record.get("top_k"),
                    "as_of": record.get("as_of"),
                    "line": n,
                }
            )
        else:
            questions.append({"question": line, "top_k": None, "line": n})
    if not questions:
        raise InputError(f"{path} holds no questions; write one question a line.")
    return questions


FILE_BATCH = 256  # questions of a --file answered together (memory stays bounded whatever the file's length)


def _ask_file(engine: Any, questions: list[dict[str, Any]], args: argparse.Namespace, load: float) -> int:
    """Answer every question of a file in batches; one JSON line each, in order (a refused one carries its error)."""
    from qa.engine import as_of_filters

    out: list[dict[str, Any] | None] = [None] * len(questions)
    groups: dict[Any, list[int]] = {}
    for i, q in enumerate(questions):
        if "error" in q:
            out[i] = q
            continue
        try:
            q["question"] = engine.check_question(q["question"])
            engine.check_top_k(q["top_k"])
            filters = as_of_filters(_filters(args), q.get("as_of") or getattr(args, "as_of", None))
            groups.setdefault((q["top_k"] or args.top_k, filters.as_of if filters else None), []).append(i)
        except QAError as exc:
            out[i] = {"line": q["line"], "question": q["question"], "error": str(exc)}
    parts = [
        (key, members[at : at + FILE_BATCH])
        for key, members in groups.items()
        for at in range(0, len(members), FILE_BATCH)
    ]
    for (top_k, as_of), members in parts:
        results = engine.ask_many(
            [questions[i]["question"] for i in members],
            top_k=top_k,
            retrieval=args.retrieval,
            filters=_filters(args),
            always_answer=args.always_answer,
            as_of=as_of,
        )
        for i, result in zip(members, results):
            out[i] = {"line": questions[i]["line"], **result.to_dict()}
    for row in out:
        print(json.dumps(row, ensure_ascii=False))
    if args.verbose:
        print(f"{len(questions)} question(s); load {load:.3f} s", file=sys.stderr)
    malformed = sum("error" in q for q in questions)
    if malformed:
        print(
            f"error: {malformed} line(s) of {args.file} could not be read as questions; see their rows.",
            file=sys.stderr,
        )
    return 1 if malformed else 0


def _check_host(host: str) -> None:
    """Refuse, in one line and at once, an address this machine cannot listen on."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.bind((infos[0][4][0], 0))
    except (OSError, UnicodeError, IndexError) as exc:
        raise InputError(
            f"Cannot listen on {host!r} ({getattr(exc, 'strerror', None) or exc}): it is not an address "
            "of this machine; use 127.0.0.1 (this machine only) or 0.0.0.0 (every address)."
        ) from None


LOOPBACK = ("127.", "::1", "localhost")


def read_credentials(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The page's user names and passwords from --auth USER:PASSWORD and --auth-file (one USER:PASSWORD a line)."""
    given = [(str(args.auth), "--auth")] if args.auth else []
    if args.auth_file:
        try:
            lines = Path(args.auth_file).read_text(encoding="utf-8-sig").splitlines()  # a BOM is no name
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(
                f"Cannot read --auth-file {args.auth_file} ({exc}); write one USER:PASSWORD a line."
            ) from None
        given += [(line.strip(), f"{args.auth_file}, line {n}") for n, line in enumerate(lines, 1)]
    credentials: list[tuple[str, str]] = []
    for text, where in given:
        if not text or text.startswith("#"):
            continue
        user, colon, password = (part.strip() for part in text.partition(":"))
        if not colon or not user or not password:
            raise InputError(f"{where}: give a user name and password as USER:PASSWORD (both non-empty).")
        if user in {u for u, _ in credentials}:
            raise InputError(f"{where}: the user {user!r} is listed twice; give each user one password.")
        credentials.append((user, password))
    return credentials


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.app import Serving, serve

    _check_host(args.host)
    credentials = read_credentials(args)
    if (args.auth or args.auth_file) and not credentials:
        raise InputError(f"{args.auth_file} holds no USER:PASSWORD line; add one, or leave --auth-file out.")
    public = args.share or not args.host.startswith(LOOPBACK)
    if public and not credentials and not args.no_auth:
        raise InputError(
            f"Serving beyond this machine ({'--share' if args.share else args.host}) needs a sign-in: add "
            "--auth USER:PASSWORD or --auth-file FILE, or --no-auth to let anyone who can reach it in."
        )
    if credentials and args.no_auth:
        raise InputError("--no-auth and --auth/--auth-file contradict each other; keep one.")
    if args.mcp:
        _need("mcp", "qa serve --mcp", "mcp")
    serving = Serving(
        host=args.host,
        port=args.port,
        share=args.share,
        max_upload_mb=args.max_upload_mb,
        max_files=args.max_files,
        credentials=credentials,
        read_only=args.read_only,
        mcp=args.mcp,
        allowed_origins=tuple(_origins(args.allow_origin or [])),
        allow_replace=args.allow_replace,
    )
    serve(index_dir=args.index_dir, config=_config(args), serving=serving)
    return 0


def _origins(values: list[str]) -> list[str]:
    """--allow-origin values as browsers send origins, or InputError in one line."""
    from ui.guards import parse_origin

    try:
        return [parse_origin(v) for v in values]
    except ValueError as exc:
        raise InputError(f"--allow-origin: {exc}.") from None


def _need(module: str, command: str, extra: str) -> None:
    """Refuse in one line a command whose optional package is not installed."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise InputError(f'{command} needs the {extra} extra: pip install "qa-news[{extra}]".')


def cmd_mcp(args: argparse.Namespace) -> int:
    from qa.mcp_server import serve_stdio

    _need("mcp", "qa mcp", "mcp")
    serve_stdio(args.index_dir, _config(args))
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from qa.watching import watch

    if not args.once:
        _need("watchdog", "qa watch", "watch")
    watch(
        args.paths,
        args.index_dir,
        _config(args),
        feed_every=args.feed_every,
        settle=args.settle,
        once=args.once,
        fetch_pages=args.fetch_pages,
    )
    return 0


def cmd_train_reader(args: argparse.Namespace) -> int:
    from qa.training import TrainConfig, train_reader

    if not Path(args.data).is_file():
        raise InputError(
            f"Training file {args.data} does not exist; pass a SQuAD-format JSON file (plain or .gz)."
        )
    config = TrainConfig(
        data=str(args.data),
        output=str(args.output),
        checkpoint_dir=str(args.checkpoint_dir),
        base_model=args.base_model or "",
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup=args.warmup,
        max_length=args.max_length,
        stride=args.stride,
        negatives=args.negatives,
        seed=args.seed,
        device=args.device,
        bf16=args.bf16,
        save_every=args.save_every,
        max_minutes=args.max_minutes,
        limit=args.limit,
        eval_file=str(args.eval_file) if args.eval_file else None,
        eval_limit=args.eval_limit,
    )
    result = train_reader(config, progress=not args.quiet)
    state = "finished" if result.finished else "stopped at the time limit (run again to resume)"
    print(
        f"Training {state} after {result.steps} steps ({result.examples_seen} examples, "
        f"{result.seconds:.0f} s); reader written to {args.output}."
    )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    if not Path(args.file).is_file():
        raise InputError(f"{args.file} does not exist; pass a SQuAD-format JSON file (plain or .gz).")
    config = _config(args)
    _check_eval_saving(args, Path(config.reader_model).is_dir())
    calibration = None
    if args.what == "reader":
        result, calibration = _eval_reader(args, config)
    else:
        from qa.evaluation import evaluate_open

        result = evaluate_open(
            args.file, config, limit=args.limit, progress=not args.quiet, orphan=args.orphan, seed=args.seed
        )
    result["file"] = str(args.file)
    scores, right = result.pop("scores", []), result.pop("right", [])
    if args.save_threshold:
        from qa.evaluation import save_threshold

        card = save_threshold(config.reader_model, result)
        print(
            f"Saved no-answer threshold {result['floor_threshold']:.4f} ({result['abstain_on']}) to {card}.",
            file=sys.stderr,
        )
    if args.save_calibration:
        from qa.evaluation import fit_and_save_calibration

        fitted_on = f"{args.file} --mix {args.mix} ({len(scores)} pairs)"
        calibration, card = fit_and_save_calibration(config.reader_model, result, scores, right, fitted_on)
        print(
            f"Saved no-answer threshold {result['best_threshold']:.4f} ({result['abstain_on']}) and a confidence "
            f"calibration to {card}.",
            file=sys.stderr,
        )
    if args.diagram:
        _reliability_diagram(args, calibration, scores, right)
    if args.json:
        _print_json(result)
    else:
        for key, value in result.items():
            if key != "reliability":
                print(f"{key:>36}: {value:.2f}" if isinstance(value, float) else f"{key:>36}: {value}")
    return 0


def _check_eval_saving(args: argparse.Namespace, local_reader: bool) -> None:
    """Refuse in one line a --save-* option that cannot work with this evaluation, before any work."""
    if args.save_threshold and (args.what != "reader" or not local_reader):
        raise InputError(
            "--save-threshold works with `qa eval reader` on a SQuAD 2.0 file, for a reader in a local folder."
        )
    if args.save_calibration and (args.what != "reader" or not args.mix or not local_reader):
        raise InputError(
            "--save-calibration works with `qa eval reader FILE --mix realistic`, for a reader in a local folder."
        )


def _eval_reader(args: argparse.Namespace, config: Config) -> tuple[dict[str, Any], Any]:
    """`qa eval reader`: the reader alone on each example's own paragraph; returns the result and the
    reader's calibration (None without one)."""
    from qa.evaluation import evaluate_reader
    from qa.reading import Reader
    from qa.squad import load_examples, realistic_mix

    try:
        examples = load_examples(args.file, limit=args.limit)
    except (ValueError, KeyError, OSError) as exc:
        raise InputError(f"{args.file} could not be read as SQuAD-format JSON ({exc}).") from exc
    if args.sample and args.sample < len(examples):
        import random

        examples = sorted(random.Random(args.seed).sample(examples, args.sample), key=examples.index)
    kinds = None
    if args.mix:
        examples, kinds = realistic_mix(examples, seed=args.seed)
    threshold: float | None
    rule, threshold = config.with_(abstain_on=args.abstain_on).no_answer_rule()
    calibration = config.with_(abstain_on=args.abstain_on).calibration()
    if not any(e.is_impossible for e in examples):
        if args.save_threshold:
            raise InputError(
                f"{args.file} has no unanswerable questions, so --save-threshold has nothing to "
                f"tune; use a SQuAD 2.0 file."
            )
        threshold = None
    result = evaluate_reader(
        Reader.from_config(config, batch_size=args.batch_size),
        examples,
        threshold=threshold,
        batch_size=args.batch_size,
        progress=not args.quiet,
        abstain_on=rule,
        has_ans_floor=args.has_ans_floor,
        kinds=kinds,
        calibration=calibration,
    )
    if args.mix:
        result["mix"] = args.mix
    return result, calibration


def _reliability_diagram(
    args: argparse.Namespace, calibration: Any, scores: list[float], right: list[bool]
) -> None:
    if calibration is None or not scores:
        raise InputError(
            "--diagram needs `qa eval reader` and a reader with a calibration (see --save-calibration)."
        )
    from qa.calibration import reliability_diagram

    title = f"{Path(args.file).name}" + (f", --mix {args.mix}" if args.mix else "")
    reliability_diagram([calibration(x) for x in scores], right, args.diagram, title)
    print(f"Wrote the reliability diagram to {args.diagram}.", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="qa", description="Extractive question answering over your own news articles, with citations."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    isub = _index_group(sub)
    _index_build_and_add(isub)
    _index_maintenance(isub)
    _ask_command(sub)
    _serve_command(sub)
    _mcp_and_watch_commands(sub)
    _train_command(sub)
    _eval_command(sub)
    return parser


def _index_group(sub: Any) -> Any:
    """`qa index`: its sub-commands' parser."""
    index = sub.add_parser(
        "index", help="build or change the index", description="Build, update and inspect the article index."
    )
    isub = index.add_subparsers(dest="index_command", required=True, metavar="ACTION")
    return isub


def _index_build_and_add(isub: Any) -> None:
    p = isub.add_parser(
        "build",
        help="build a new index from files or folders (replaces any existing one)",
        description=f"Build an index from {FILE_TYPES} files or folders of them. The "
        "old index stays until the new one is complete.",
    )
    p.add_argument(
        "paths", nargs="*", type=Path, help="files or folders (default: the seed article shipped with qa)"
    )
    p.add_argument(
        "--approximate",
        action="store_true",
        help="make every vector segment approximate (IVF); by default only segments above 50,000 vectors",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="build even when --index-dir is a folder that already holds other files (they are never touched)",
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="all or nothing: stop, adding nothing, if any file cannot be read",
    )
    p.add_argument(
        "--fetch-pages",
        action="store_true",
        help="read a feed's entries from the web pages they link to (public addresses only, 20 s and 4 MB a "
        "page; a page that fails keeps the feed's own text)",
    )
    _ray_options(p)
    _engine_options(p)
    p.set_defaults(func=cmd_index_build)
    p = isub.add_parser(
        "add",
        help="add or update articles",
        description="Add articles; an unchanged article is skipped, a changed one replaces its old passages. "
        "A file that cannot be read is reported in one line and the rest is added (exit status 1).",
    )
    p.add_argument("paths", nargs="+", type=Path, help="files or folders")
    p.add_argument(
        "--strict",
        action="store_true",
        help="all or nothing: stop, adding nothing, if any file cannot be read",
    )
    p.add_argument(
        "--fetch-pages",
        action="store_true",
        help="read a feed's entries from the web pages they link to (public addresses only, 20 s and 4 MB a "
        "page; a page that fails keeps the feed's own text)",
    )
    _ray_options(p)
    _engine_options(p)
    p.set_defaults(func=cmd_index_add)


def _index_maintenance(isub: Any) -> None:
    """remove, info, check, rebuild, optimize, upgrade."""
    p = isub.add_parser(
        "remove",
        help="remove articles by id, url or title",
        description="Remove articles named by id, url or exact title (see `qa index info`).",
    )
    p.add_argument("ids", nargs="+", metavar="ID", help="article ids, urls or exact titles")
    _engine_options(p)
    p.set_defaults(func=cmd_index_remove)
    p = isub.add_parser(
        "info", help="show what the index holds", description="Show the index's model, counts and articles."
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    _engine_options(p)
    p.set_defaults(func=cmd_index_info)
    for name, func, summary, description in (
        (
            "check",
            cmd_index_check,
            "verify checksums and counts",
            "Verify the database, every vector segment's checksum and that articles, passages, BM25 documents and "
            "vectors agree. Exit status 1 when anything is wrong.",
        ),
        (
            "rebuild",
            cmd_index_rebuild,
            "rebuild BM25 and damaged vector segments from the database",
            "Rebuild the BM25 index from the passages in the database, and re-embed the passages of any vector "
            "segment that is missing or damaged.",
        ),
        (
            "optimize",
            cmd_index_optimize,
            "merge the vector segments into one",
            "Merge all vector segments into one, dropping the vectors of removed articles (adds merge small "
            "segments on their own; this is for after many removals).",
        ),
        (
            "upgrade",
            cmd_index_upgrade,
            "convert an index written in the older format",
            "Convert an index in format 1 (a CURRENT file and v000001/ folders) to the current format, keeping "
            "its vectors; the old files are removed once the new index is committed.",
        ),
    ):  # the maintenance commands: only the engine options
        p = isub.add_parser(name, help=summary, description=description)
        _engine_options(p)
        p.set_defaults(func=func, quick=False)
        if name == "check":
            p.add_argument(
                "--quick",
                action="store_true",
                help="check a random sample of the articles' texts and BM25 documents instead of all of them "
                "(for very large archives)",
            )


def _ask_command(sub: Any) -> None:
    p = sub.add_parser(
        "ask",
        help="answer a question from the articles",
        description="Answer a question with the sentence it came from. Builds the default index "
        "from the seed article when there is none.",
    )
    p.add_argument("question", nargs="?", help="the question (or --file for many)")
    p.add_argument(
        "--file",
        type=Path,
        help="answer every question of this file (one a line, or JSONL objects with "
        '"question" and optional "top_k") in batches; prints one JSON line each',
    )
    p.add_argument(
        "--verbose", action="store_true", help="print the seconds spent loading, retrieving and reading"
    )
    p.add_argument(
        "--since", type=_date, help="only articles published on or after this date (e.g. 2025-10-01)"
    )
    p.add_argument(
        "--until", type=_date, help="only articles published on or before this date (the whole day counts)"
    )
    p.add_argument(
        "--as-of",
        type=_date,
        metavar="DATE",
        help="ask as on this day: nothing published after it is searched (undated articles are kept)",
    )
    p.add_argument("--source", action="append", help="only articles from this source (repeat for several)")
    p.add_argument(
        "--recency",
        type=_number(float, 0, 100),
        help="rank by the rules instead of the learned answer ranker, with newer articles winning by this many "
        "log-odds points per 30 days (by default the learned ranker weighs dates itself)",
    )
    p.add_argument(
        "--top-k", type=_number(int, 1, 100), default=None, help="passages to read, 1 to 100 (default 5)"
    )
    p.add_argument("--retrieval", choices=["hybrid", "dense", "bm25"], help="retrieval mode (default hybrid)")
    p.add_argument(
        "--threshold",
        type=_number(float),
        help="decide by the reader's answerability instead of the learned answer ranker: below this the "
        "engine says the articles don't say (by default the ranker's confidence decides, with its own threshold)",
    )
    p.add_argument(
        "--always-answer",
        action="store_true",
        help="give the best guess even when it is below the threshold (marked as such)",
    )
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    _engine_options(p)
    p.set_defaults(func=cmd_ask)


def _serve_command(sub: Any) -> None:
    p = sub.add_parser(
        "serve", help="start the web page", description="Serve the Gradio page (loopback only by default)."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument(
        "--port", type=_number(int, 1, 65535), default=7860, help="port, 1 to 65535 (default %(default)s)"
    )
    p.add_argument(
        "--share",
        action="store_true",
        help="also serve through a temporary public gradio.live link (needs the internet and a sign-in)",
    )
    p.add_argument(
        "--max-upload-mb",
        type=_number(float, 0, 10_000, low_open=True),
        default=20.0,
        help="largest accepted upload, above 0 and at most 10000 (default %(default)s MB)",
    )
    p.add_argument(
        "--max-files",
        type=_number(int, 1, 10_000),
        default=100,
        help="most files (or API articles) taken in one upload (default %(default)s)",
    )
    p.add_argument(
        "--auth", metavar="USER:PASSWORD", help="sign-in for the page, its API and its MCP endpoint"
    )
    p.add_argument("--auth-file", type=Path, help="sign-ins, one USER:PASSWORD a line (# starts a comment)")
    p.add_argument(
        "--no-auth",
        action="store_true",
        help="serve beyond this machine (--host 0.0.0.0, --share) without a sign-in: anyone who reaches it can use it",
    )
    p.add_argument("--read-only", action="store_true", help="asking and browsing only: no uploads or removal")
    p.add_argument(
        "--allow-origin",
        action="append",
        metavar="URL",
        help="another site whose pages may call this server from a browser, e.g. https://desk.example.com "
        "(repeatable; by default only the page itself and programs such as curl may)",
    )
    p.add_argument(
        "--allow-replace",
        action="store_true",
        help="let any signed-in user replace an article another user or `qa index` added (asked with "
        '"replace": true or the page\'s checkbox); by default only its own uploader may',
    )
    p.add_argument(
        "--mcp",
        action="store_true",
        help="also serve the tools ask, search, search_articles and list_articles over MCP at /gradio_api/mcp/ "
        "(needs the mcp extra)",
    )
    _engine_options(p)
    p.set_defaults(func=cmd_serve)


def _mcp_and_watch_commands(sub: Any) -> None:
    p = sub.add_parser(
        "mcp",
        help="serve the tools ask, search, search_articles and list_articles to an AI assistant over MCP on stdio",
        description="Model Context Protocol on stdin/stdout, for assistants that start a command (Claude Desktop, "
        'IDEs); docs/guide.md has the configuration to paste. Needs the mcp extra: pip install "qa-news[mcp]".',
    )
    _engine_options(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser(
        "watch",
        help="keep the index current: add new and changed files in folders, re-read feeds",
        description="Add what is in PATHs now, then every new or changed article file as soon as it has "
        "settled; http(s) feed addresses are fetched again every --feed-every seconds. One log line per "
        'change; Ctrl+C stops. Needs the watch extra: pip install "qa-news[watch]".',
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders, files or feed addresses (http/https)")
    p.add_argument(
        "--feed-every",
        type=_number(float, 1),
        default=300.0,
        help="seconds between fetches of each feed address (default %(default)s)",
    )
    p.add_argument(
        "--settle",
        type=_number(float, 0),
        default=1.0,
        help="seconds a file must stay unchanged before it is read (default %(default)s)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="add what the paths hold now, fetch the feeds once, and stop (a refresh for cron; no extra needed)",
    )
    p.add_argument(
        "--fetch-pages",
        action="store_true",
        help="read a feed's entries from the web pages they link to (public addresses only, 20 s and 4 MB a "
        "page; a page that fails keeps the feed's own text)",
    )
    _engine_options(p)
    p.set_defaults(func=cmd_watch)


def _train_command(sub: Any) -> None:
    p = sub.add_parser(
        "train-reader",
        help="fine-tune the extractive reader on SQuAD-format data",
        description="Fine-tune a reader; killed runs resume from --checkpoint-dir when started "
        "again with the same options.",
    )
    p.add_argument("--data", type=Path, required=True, help="SQuAD-format training file (.json or .json.gz)")
    p.add_argument(
        "--output",
        type=Path,
        default=Path("reader-out"),
        help="where the trained reader is written (default %(default)s)",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path("checkpoints/reader"),
        help="resumable checkpoints (default %(default)s)",
    )
    p.add_argument("--base-model", help="starting model (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument(
        "--epochs", type=_number(float, 0, low_open=True), default=3.0, help="epochs (default %(default)s)"
    )
    p.add_argument("--max-steps", type=_number(int, 1), help="stop after this many steps instead")
    p.add_argument("--batch-size", type=_number(int, 1), default=32)
    p.add_argument("--learning-rate", type=_number(float, 0, low_open=True), default=1e-4)
    p.add_argument(
        "--warmup",
        type=_number(float, 0),
        default=0.1,
        help="share of the steps over which the learning rate rises before it decays linearly to "
        "zero (default %(default)s)",
    )
    p.add_argument(
        "--max-length",
        type=_number(int, 32, 4096),
        default=256,
        help="window length in tokens (default %(default)s)",
    )
    p.add_argument(
        "--stride",
        type=_number(int, 0),
        default=96,
        help="overlap between windows in tokens (default %(default)s)",
    )
    p.add_argument(
        "--negatives",
        type=_number(float, 0),
        default=0.5,
        help="synthetic unanswerable examples per question (default %(default)s)",
    )
    _training_run_options(p)
    p.set_defaults(func=cmd_train_reader)


def _training_run_options(p: argparse.ArgumentParser) -> None:
    """How a training run goes: seed, device, time budget, checkpoints, evaluation, output."""
    p.add_argument("--seed", type=_number(int), default=13)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default %(default)s)")
    p.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="matrix products in bfloat16 (default: on a GPU only; on a CPU with AVX512-BF16 or AMX, "
        "--bf16 trains faster)",
    )
    p.add_argument(
        "--save-every",
        type=_number(int, 1),
        default=500,
        help="checkpoint every N steps (default %(default)s)",
    )
    p.add_argument(
        "--max-minutes",
        type=_number(float, 0, low_open=True),
        help="stop (resumably) after this many minutes",
    )
    p.add_argument("--limit", type=_number(int, 1), help="use only the first N training questions")
    p.add_argument("--eval-file", type=Path, help="SQuAD file for the learning curve")
    p.add_argument(
        "--eval-limit",
        type=_number(int, 1),
        default=2000,
        help="questions of --eval-file per curve point (default %(default)s)",
    )
    p.add_argument("--quiet", action="store_true")


def _eval_command(sub: Any) -> None:
    p = sub.add_parser(
        "eval",
        help="score the reader or the whole engine on SQuAD-format data",
        description="`qa eval reader FILE`: reader on gold paragraphs. `qa eval open FILE`: whole "
        "engine with all paragraphs as the corpus.",
    )
    p.add_argument("what", choices=["reader", "open"])
    p.add_argument("file", type=Path)
    p.add_argument("--limit", type=_number(int, 1), help="only the first N questions")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--threshold",
        type=_number(float),
        help="no-answer threshold (default: the reader's tuned one, for SQuAD 2.0 files)",
    )
    p.add_argument(
        "--abstain-on",
        choices=["null", "span", "ratio"],
        help="no-answer score: 1 - P(no answer), the best span's probability, or the log-odds of "
        "the span against no answer (default: the reader's own rule, from its training.json; else ratio)",
    )
    p.add_argument(
        "--has-ans-floor",
        type=_number(float, 0, 100),
        default=70.0,
        help="SQuAD 2.0: also report the highest threshold keeping HasAns F1 at this level (default %(default)s)",
    )
    p.add_argument(
        "--save-threshold",
        action="store_true",
        help="SQuAD 2.0: store that HasAns-floor threshold (and the rule) in the reader's "
        "training.json, where the engine reads it",
    )
    p.add_argument(
        "--mix",
        choices=["realistic"],
        help="reader: pair each answerable question with one truly unanswerable twin, the same question beside a "
        "paragraph of another article or another paragraph of its own article without the answer",
    )
    p.add_argument(
        "--sample", type=_number(int, 1), help="reader: a random sample of N questions from the whole file"
    )
    p.add_argument(
        "--seed", type=_number(int), default=13, help="for --sample, --mix and --orphan (default %(default)s)"
    )
    p.add_argument(
        "--save-calibration",
        action="store_true",
        help="with --mix: fit the confidence calibration and store it, with the best-F1 threshold, in the reader's "
        "training.json (fit on the training file, report on dev)",
    )
    p.add_argument(
        "--diagram", type=Path, help="reader: write a reliability diagram (PNG) of the calibrated confidence"
    )
    _eval_engine_options(p)
    p.set_defaults(func=cmd_eval)


def _eval_engine_options(p: argparse.ArgumentParser) -> None:
    """What is evaluated: the open setting's corpus and retrieval, the models, the batch."""
    p.add_argument(
        "--orphan",
        type=_number(float, 0, 1),
        default=0.0,
        help="open: the share of articles removed from the corpus, so that their questions have no answer to find",
    )
    p.add_argument("--top-k", type=_number(int, 1, 100), help="passages read per question (open)")
    p.add_argument("--retrieval", choices=["hybrid", "dense", "bm25"])
    p.add_argument(
        "--reader-model", help="question-answering model name or path (default: the shipped reader)"
    )
    p.add_argument("--embedding-model")
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--batch-size", type=_number(int, 1), default=64)
    p.add_argument("--int8", action=argparse.BooleanOptionalAction, help=INT8_HELP)
    p.add_argument("--quiet", action="store_true")


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault(
        "HF_HUB_DISABLE_PROGRESS_BARS", "1"
    )  # no weight-loading bars between a question and its answer
    args = build_parser().parse_args(argv)
    if hasattr(args, "index_dir") and args.index_dir is None:
        args.index_dir = default_index_dir()
    logging.basicConfig(
        format="%(message)s", level=logging.WARNING
    )  # the library's notes, as plain lines on stderr
    try:
        return args.func(args)
    except QAError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `qa index info | head -1`: the reader has all it wanted
        os.dup2(
            os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno()
        )  # no second error when Python flushes stdout
        return 0
    except (
        BaseException
    ) as exc:  # a bug (or a native library's panic): one line, marked, and its traceback kept
        if isinstance(exc, (SystemExit, GeneratorExit)):
            raise
        details = f"please report it with the traceback in {_save_traceback()}"
        print(f"error: {one_line(exc, details, with_message=True)}", file=sys.stderr)
        return INTERNAL_EXIT_CODE


def _save_traceback() -> str:
    """Write the current exception's traceback to a new file in the temporary folder; returns its path."""
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="qa-internal-error-", suffix=".txt")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(traceback.format_exc())
    return path


if __name__ == "__main__":
    sys.exit(main())
