"""``facebench`` command line (lm-eval-style flags). Thin: parse, call the runner or report.

Nothing heavy is imported at module level, so ``facebench --help`` and ``facebench ls`` start
without torch."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Sequence

from facebench.errors import FacebenchError


def _metric_args(text: str | None) -> dict[str, dict[str, Any]]:
    """``fid.weights=/p/inception.pt,vqascore_cf5.model=...`` → {"fid": {"weights": ...}, ...}."""
    from facebench.adapters.base import parse_model_args

    out: dict[str, dict[str, Any]] = {}
    for k, v in parse_model_args(text).items():
        if "." not in k:
            raise FacebenchError(f"--metric_args entry '{k}' must be <metric>.<arg>=<value> (e.g. fid.weights=PATH)")
        metric, arg = k.split(".", 1)
        out.setdefault(metric, {})[arg] = v
    return out


def _add_run(sub) -> None:
    p = sub.add_parser("run", help="run tasks on a model (predict → score)")
    p.add_argument("--model", required=True, help="model name (facebench ls models)")
    p.add_argument("--model_args", default="", help="k=v,k2=v2 passed to the model (e.g. pretrained=PATH)")
    p.add_argument("--task", "--tasks", dest="tasks", required=True, help="task(s) or group(s), comma-separated")
    p.add_argument("--dataset", default=None, help="unif2ace (default per task) | mini | PATH")
    p.add_argument("--columns", default="", help="column mapping for other layouts, e.g. caption=text,image=img")
    p.add_argument("--limit", type=_limit, default=None,
                   help="first N samples of the split, or a fraction (0.1 = 10%%); for testing only: such a run is "
                        "marked partial and never taken as the full result")
    p.add_argument("--batch_size", type=_batch_size, default=8, help="N, or 'auto' (the largest that fits; halves on "
                   "out-of-memory)")
    p.add_argument("--gen_kwargs", default="", help="generation settings over the task YAML's, e.g. "
                   "max_new_tokens=64,temperature=0 (or height=1024,width=1024,n=4 for generation tasks)")
    p.add_argument("--seed", type=int, default=0, help="base seed (each sample derives its own)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--output_path", default="runs", help="folder for run directories (default: runs)")
    p.add_argument("--run_name", default=None, help="run directory name (default <model>_<dataset>); each run "
                   "writes its own results_<timestamp>.json there")
    p.add_argument("--mode", choices=["all", "predict", "score"], default="all")
    p.add_argument("--predict_only", action="store_true", help="lm-eval's flag: the same as --mode predict")
    p.add_argument("--log_samples", action="store_true",
                   help="accepted for lm-eval compatibility: facebench always writes samples_<task>_<stamp>.jsonl")
    p.add_argument("--show_config", action="store_true", help="print the resolved task configs before running")
    p.add_argument("--wandb_args", default=None,
                   help="log metrics and sample tables to Weights & Biases, e.g. project=facebench,mode=offline "
                        "(pip install 'facebench[wandb]')")
    p.add_argument("--images", default=None, help="score generation tasks on PNGs made elsewhere (<doc_id>[_k].png)")
    p.add_argument("--no_cache", action="store_true", help="recompute predictions even if cached")
    p.add_argument("--bounds", choices=("auto", "on", "off"), default="auto",
                   help="measure the floor (dummy) and ceiling (oracle) with the same settings and record them "
                        "beside every metric (auto: on the mini set, without --limit)")
    p.add_argument("--metric_args", default="", help="<metric>.<arg>=v,... e.g. fid.weights=PATH")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task YAMLs")
    g = p.add_argument_group("judge (Desc/Conv scores, VLM-score)")
    g.add_argument("--judge", default=None, help="judge backend: openai | embedding | llama-cpp")
    g.add_argument("--judge_model", default=None)
    g.add_argument("--judge_base_url", default=None, help="any OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama)")
    g.add_argument("--judge_concurrency", type=int, default=None, help="judge requests in flight (≥ 1)")
    g.add_argument("--judge_config", default=None, help="YAML/JSON file with the judge_* settings")
    g.add_argument("--judge_max_calls", type=int, default=None, help="budget: stop judging after N calls")
    g.add_argument("--judge_max_tokens", type=int, default=None, help="budget: stop judging after N tokens")
    g.add_argument("--judge_timeout", type=float, default=None,
                   help="seconds per judge request in total (connect + whole reply) before a retry")
    g.add_argument("--dry_run", action="store_true", help="print judge calls and estimated cost; call nothing")
    p.add_argument("--verbosity", default="INFO", type=str.upper,
                   choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"], help="log level (default INFO)")
    p.add_argument("-v", "--verbose", action="store_true", help="the same as --verbosity DEBUG")
    p.set_defaults(func=_cmd_run)


def _limit(text: str) -> int | float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of samples or a fraction, got {text!r}") from None
    return int(v) if v >= 1 and v.is_integer() else v


def _batch_size(text: str) -> int | str:
    if text.strip().lower() == "auto" or text.strip().lower().startswith("auto:"):
        return text.strip().lower()
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {text!r}") from None


def _check_run_args(args: argparse.Namespace, judge: dict[str, Any], model_args: dict[str, Any]) -> None:
    """Usage errors found before any work starts (exit 2, one line): run name, device, judge
    options (incl. the judge config file), and model_args keys the model does not take."""
    from facebench.judge.settings import check_judge_options
    from facebench.validate import validate_device, validate_run_name

    validate_run_name(args.run_name)
    validate_device(args.device)  # metrics run on it too, also in --mode score
    check_judge_options({k: v for k, v in judge.items() if v is not None})
    from facebench.builtins import register_builtins
    from facebench.registry import MODELS

    register_builtins()
    if args.mode != "score" and args.model in MODELS:  # unknown names: the runner says so when it needs one
        check = getattr(MODELS.get(args.model), "check_model_args", None)
        if check is not None:
            from facebench.envs.factory import split_worker_args

            check(split_worker_args(model_args)[0])  # isolate/worker_* are the worker's, not the model's


def _cmd_run(args: argparse.Namespace) -> int:
    from facebench.adapters.base import parse_model_args
    from facebench.redact import redact
    from facebench.runner import RunConfig, run

    judge = {k: getattr(args, k) for k in ("judge", "judge_model", "judge_base_url", "judge_concurrency",
                                            "judge_config", "judge_max_calls", "judge_max_tokens", "judge_timeout")}
    if judge["judge_base_url"] and not judge["judge"]:
        judge["judge"] = "openai"  # a base URL means an OpenAI-compatible server
    model_args = parse_model_args(args.model_args)
    _check_run_args(args, judge, model_args)
    mode = "predict" if args.predict_only else args.mode
    if args.predict_only and args.mode not in ("all", "predict"):
        raise FacebenchError("--predict_only contradicts --mode " + args.mode)
    if args.limit is not None:
        logging.getLogger("facebench").warning("--limit is for testing only: this run is marked partial and is never "
                                               "taken as the full result")
    cfg = RunConfig(
        model=args.model, tasks=[t for t in args.tasks.split(",") if t], model_args=model_args,
        dataset=args.dataset, limit=args.limit, batch_size=args.batch_size, seed=args.seed, device=args.device,
        output_path=args.output_path, run_name=args.run_name, mode=mode, use_cache=not args.no_cache,
        images=args.images, metric_args=_metric_args(args.metric_args), judge={k: v for k, v in judge.items() if v is not None},
        dry_run=args.dry_run, include_path=args.include_path,
        columns={k: str(v) for k, v in parse_model_args(args.columns).items()},
        gen_kwargs=parse_model_args(args.gen_kwargs),
        bounds={"auto": None, "on": True, "off": False}[args.bounds],
    )
    wandb_args = parse_model_args(args.wandb_args) if args.wandb_args is not None else None
    if args.show_config:
        print(redact(show_config(cfg)))
    out = run(cfg)
    if wandb_args is not None and os.environ.get("RANK", "0") == "0" and out.results_file is not None:
        from facebench.report.wandb_log import log_run

        where = log_run(out.results, out.run_dir, wandb_args)
        logging.getLogger("facebench").info("logged to Weights & Biases%s", f" ({where})" if where else "")
    if os.environ.get("RANK", "0") == "0":  # under torchrun only rank 0 holds the merged results
        print(redact(summary_table(out.results, out.results_file)))
    if out.errors:
        for e in out.errors:
            print(redact(f"facebench: error: {e}"), file=sys.stderr)
        return 1
    return 0


def show_config(cfg: Any) -> str:
    """The run's config and every task as it will run (dataset overrides and --gen_kwargs applied)."""
    import yaml

    from facebench.runner.run import Run

    run = Run(cfg)
    doc = {"run": {k: v for k, v in cfg.public().items() if v not in (None, [], {}, "")},
           "tasks": {t.name: t.to_dict() for t in run.tasks}}
    return "# facebench --show_config\n" + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def summary_table(results: dict[str, Any], results_file: Any = None) -> str:
    from facebench.runner.summary import make_table

    return make_table(results, results_file)


def _add_ls(sub) -> None:
    p = sub.add_parser("ls", help="list models, tasks, metrics or datasets")
    p.add_argument("what", choices=["models", "tasks", "metrics", "datasets"])
    p.add_argument("--json", action="store_true", help="every field, machine-readable")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task YAMLs (ls tasks)")
    p.set_defaults(func=_cmd_ls)


def _cmd_ls(args: argparse.Namespace) -> int:
    from facebench.listing import list_things

    rows = list_things(args.what, include_path=args.include_path)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from facebench.listing import format_rows

        print(format_rows(rows, args.what))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facebench", description="Evaluation harness for face-domain unified "
                                     "multimodal models (text→face generation, face captioning and VQA).")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")
    _add_run(sub)
    _add_ls(sub)
    try:
        from facebench.report.commands import register
    except ImportError:
        pass
    else:
        register(sub)
    from facebench.envs.commands import register as register_env

    register_env(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(version("facebench"))
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = "DEBUG" if getattr(args, "verbose", False) else getattr(args, "verbosity", "INFO")
    logging.basicConfig(level=getattr(logging, level), format="facebench: %(levelname)s: %(message)s", stream=sys.stderr)
    from facebench.progress import quiet_library_bars
    from facebench.redact import install_log_redaction, redact

    quiet_library_bars()

    install_log_redaction()  # no API key reaches stderr through a log line
    try:
        return int(args.func(args) or 0)
    except FacebenchError as e:
        print(redact(f"facebench: error: {e}"), file=sys.stderr)
        return e.exit_code
    except OSError as e:  # unwritable output, disk full: finished items stay in the cache
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"facebench: error: {e.strerror or e}{where}; finished items are cached, fix and re-run to resume",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facebench: interrupted; finished items are cached, re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
