"""Command-line entry points: flags in, calls out. No logic lives here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from opencoder_local import __version__
from opencoder_local.errors import UserError, interruptible, refuse_undecodable, run_guarded
from opencoder_local.terminal_text import printable

_TOKENIZER_MODES = {"auto": None, "on": True, "off": False}
_SWITCH = {"on": True, "off": False}
_NO_MODEL = ("no model installed: `opencoder pull opencoder-1.5b-instruct` gets one "
             "(`opencoder models` lists them), or try `--model demo`")


def _add_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", help="model name (see `opencoder models`), path to a .gguf file, or a "
                        "server: http://HOST:PORT or the name of an endpoint in config.toml")
    parser.add_argument(
        "--opencoder-tokenizer",
        choices=sorted(_TOKENIZER_MODES),
        default=None,
        help="OpenCoder's exact pre-split tokenization: auto (default) turns it on for OpenCoder GGUFs",
    )


def _chat_parser(prog: str = "opencoder-chat") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Chat with a local code model.")
    _add_model_flags(parser)
    parser.add_argument("-p", "--prompt", help="answer this one question on stdout and exit ('-' reads stdin)")
    parser.add_argument("--ctx", type=int, help="context window in tokens (at most the model's own)")
    parser.add_argument("--system", help="system prompt (default: the model's own)")
    parser.add_argument("--temperature", type=float, help="0 is greedy, as OpenCoder is evaluated (default 0)")
    parser.add_argument("--max-tokens", type=int, help="longest answer in tokens (default: what the window allows)")
    parser.add_argument("--seed", type=int, help="random seed for temperature > 0")
    parser.add_argument("--threads", type=int, help="CPU threads (default: physical performance cores)")
    parser.add_argument("--lookup", choices=sorted(_SWITCH), default=None,
                        help="prompt lookup for greedy answers (default on): guesses copied from the conversation "
                             "are checked in one batch, faster where answers copy; off decodes one token at a time, "
                             "so llama.cpp's batch rounding cannot turn a near tie")
    parser.add_argument("--theme", help="Textual theme name")
    parser.add_argument("--continue", dest="continue_last", action="store_true", help="resume the last conversation")
    parser.add_argument("-f", "--file", dest="files", action="append", metavar="PATH",
                        help="with -p: put this file in context (also a glob, a folder or PATH:START-END); repeatable")
    parser.add_argument("--show-prompt", action="store_true",
                        help="with -p: print the exact prompt the model would get (files included) and exit, "
                             "without loading the weights")
    parser.add_argument("--apply", action="store_true",
                        help="with -p: print the diff of the files the answer changes, then (asking first on a "
                             "terminal) write them")
    parser.add_argument("-y", "--yes", action="store_true", help="with --apply: write without asking")
    parser.add_argument("--test", metavar="COMMAND", help="with -p and --apply --yes: run COMMAND; while it fails, "
                        "ask the model with its output, write the edits and run it again (exit 0 once it passes)")
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="with --test: answers asked for at most (default 3)")
    parser.add_argument("--test-timeout", type=float, metavar="SECONDS",
                        help="with --test: stop a run of COMMAND (and all it started) after this long (default 600)")
    parser.add_argument("--map-tokens", type=int, metavar="N",
                        help="tokens for the map of the project's other files and their definitions "
                             "(default: an eighth of the window, 256 to 1,024; 0: no map)")
    parser.add_argument("--project", metavar="DIR", help="the project folder file paths are relative to (default: here)")
    parser.add_argument("--tokenizer", metavar="PATH_OR_NAME",
                        help="with a server as --model: the local GGUF with its vocabulary, for exact tokens "
                             "(default: an installed model whose name matches the server's; 'server': none)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _settings(args: argparse.Namespace):
    """Defaults, the config file, then the flags; no model named anywhere means the one installed."""
    from opencoder_local.settings import apply_flags, load_config

    settings = apply_flags(
        load_config(),
        model=args.model,
        ctx=args.ctx,
        system=args.system,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        threads=args.threads,
        theme=args.theme,
        exact_tokenizer=_TOKENIZER_MODES[args.opencoder_tokenizer] if args.opencoder_tokenizer else None,
        lookup=_SWITCH[args.lookup] if args.lookup else None,
        continue_last=args.continue_last or None,
        project=args.project,
        tokenizer=args.tokenizer,
        map_tokens=args.map_tokens,
    )
    if settings.model is not None:
        return settings
    from opencoder_local.models.registry import default_model  # the store of models: only when none is named

    return settings.with_overrides(model=default_model())


def _one_shot_messages(prompt_format, settings, question: str, files: list[str], show_prompt: bool):
    """The messages for one question with files, counted by `prompt_format` (a vocabulary, or a
    server's engine), and the files' paths; or None once --show-prompt has printed them."""
    from opencoder_local.context.one_shot import one_shot_prompt
    from opencoder_local.settings import project_folder

    prompt, notices, paths = one_shot_prompt(prompt_format, settings.system, question, files,
                                             project_folder(settings), settings.max_tokens, settings.map_tokens)
    for notice in notices:
        print(printable(f"opencoder-chat: {notice}"), file=sys.stderr)
    if not show_prompt:
        return prompt.messages, paths
    sys.stdout.write(prompt_format.text(prompt.messages))
    sys.stdout.flush()
    return None


def _one_shot(settings, question: str, files: list[str], show_prompt: bool, apply: bool = False,
              yes: bool = False) -> int:
    from opencoder_local.settings import endpoint_for, open_chat_engine, project_folder

    # A model on a server is asked what it serves now, in one line if it fails.
    remote = open_chat_engine(settings, isolated=False) if endpoint_for(settings) is not None else None
    try:
        if remote is None:
            found, engine = _one_shot_local(settings, question, files, show_prompt)
        else:
            found, engine = _one_shot_messages(remote, settings, question, files, show_prompt), remote
        if found is None:
            return 0
        messages, paths = found
        out = sys.stderr if apply else sys.stdout  # with --apply, standard output is the diff alone
        answer = _answer(engine, settings, messages, out)
        engine.save_state()  # the next call on the same files evaluates only what follows them
    finally:
        if remote is not None:
            remote.close()
    if not apply:
        return 0
    from opencoder_local.context.one_shot import apply_answer

    return apply_answer(answer, project_folder(settings), paths, yes).exit_code


def _one_shot_local(settings, question: str, files: list[str], show_prompt: bool):
    """The messages (and files' paths) and the loaded local model; (None, None) once --show-prompt has
    printed the prompt. Files are counted with the vocabulary alone: a refused one stops before the
    weights load."""
    from opencoder_local.engine.prompt_format import PromptFormat
    from opencoder_local.models.registry import model_file

    info = model_file(settings.model)  # checked once: the vocabulary and the weights both load from it
    found = None
    if files or show_prompt:
        prompt_format = PromptFormat.vocab_only(info, settings.exact_tokenizer, settings.ctx)
        try:
            found = _one_shot_messages(prompt_format, settings, question, files, show_prompt)
        finally:
            prompt_format.close()
        if found is None:
            return None, None
    engine = _open_engine(settings, info)
    return found or _one_shot_messages(engine, settings, question, [], False), engine


def _open_engine(settings, checked=None):
    """The settings' engine, loaded here; Ctrl+C stops a load (and exits 130)."""
    from opencoder_local.settings import open_chat_engine

    if settings.model is None:
        raise UserError(_NO_MODEL)
    with interruptible() as interruption:
        try:
            engine = open_chat_engine(settings, isolated=False, checked=checked,
                                      stop_loading=lambda: interruption.requested)
        except UserError:
            interruption.raise_if_requested()  # the load failed because it was told to stop
            raise
        interruption.raise_if_requested()
    return engine


def _test_loop(settings, args: argparse.Namespace, question: str) -> int:
    """--test: run the command, and while it fails let the model fix it (loop/fix.py)."""
    from opencoder_local.loop.fix import FixPlan, fix_until_passing
    from opencoder_local.settings import api_key_names, project_folder

    if not (args.apply and args.yes):
        raise UserError("--test goes with --apply --yes: -p QUESTION -f PATH --test COMMAND --apply --yes")
    timeout = settings.command_timeout if args.test_timeout is None else args.test_timeout
    if args.rounds < 0 or not 0 < timeout < float("inf"):
        raise UserError("--rounds must be 0 or more and --test-timeout a number of seconds above 0")
    plan = FixPlan(args.test, project_folder(settings), question, tuple(args.files or ()), args.rounds, timeout,
                   settings.system, settings.max_tokens, settings.map_tokens, api_key_names(settings))
    return fix_until_passing(plan, lambda: _open_engine(settings),
                             lambda engine, messages: _answer(engine, settings, messages, sys.stderr),
                             lambda line: print(printable(f"opencoder-chat: {line}"), file=sys.stderr, flush=True))


def _answer(engine, settings, messages, out) -> str:
    """Stream the answer to `out` and return it; Ctrl+C stops it (the engine's cancel) and exits 130.
    An answer the engine stops short (a server gone mid-answer) stays, and its error follows on stderr."""
    from opencoder_local.settings import gen_params

    params = gen_params(settings)
    answer: list[str] = []
    notice = ""  # about a saved model state the engine found damaged
    with interruptible() as interruption:
        interruption.cancel = engine.cancel
        try:
            for delta in engine.stream(messages, params):
                out.write(printable(delta.text))  # a model's ESC shown as \x1b: it never drives the terminal
                out.flush()
                answer.append(delta.text)
                notice = delta.stats.notice if delta.stats is not None else notice
        except UserError as exc:
            if any(answer):
                out.write("\n")
                raise UserError(f"{exc} (the answer above is cut short)") from None
            raise
    out.write("\n")
    out.flush()
    if notice:
        print(printable(f"opencoder-chat: {notice}"), file=sys.stderr)
    interruption.raise_if_requested()
    return "".join(answer)


def _read_stdin() -> str:
    """Standard input as text: any valid UTF-8 (a NUL is a character like any other); other bytes are
    refused in one line."""
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("standard input is not UTF-8 text") from None


def _run_chat(args: argparse.Namespace) -> int:
    from opencoder_local.settings import endpoint_for, project_folder

    settings = _settings(args)
    project_folder(settings)  # a bad --project is one line before anything loads
    if args.tokenizer and endpoint_for(settings) is None:
        raise UserError("--tokenizer goes with a model on a server: --model http://HOST:PORT (or an endpoint's name)")
    question = args.prompt
    if question == "-" or (question is None and not sys.stdin.isatty()):
        question = _read_stdin()
    if question is not None:
        if not question.strip():
            raise UserError("the prompt is empty")
        if args.test is not None:
            return _test_loop(settings, args, question)
        if settings.model is None:
            raise UserError(_NO_MODEL)
        if args.yes and not args.apply:
            raise UserError("--yes goes with --apply: -p QUESTION -f PATH --apply --yes")
        return _one_shot(settings, question, args.files or [], args.show_prompt, args.apply, args.yes)
    if args.files or args.show_prompt or args.apply or args.yes or args.test is not None:
        raise UserError("-f, --show-prompt, --apply and --test go with a question: -p QUESTION (or the question on stdin)")
    from opencoder_local.tui import run_tui

    return run_tui(settings)


def _read_messages(path: str):
    from opencoder_local.documents import read_json
    from opencoder_local.engine.protocol import Message
    from opencoder_local.files import user_path

    data = read_json(user_path(path))
    ok = isinstance(data, list) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in data
    )
    if not ok:
        raise UserError(f"{path} must hold a JSON list of {{\"role\": ..., \"content\": ...}} messages")
    return [Message(m["role"], m["content"]) for m in data]


def _run_tokenize(args: argparse.Namespace) -> int:
    from opencoder_local.engine.prompt_format import PromptFormat
    from opencoder_local.models.registry import default_model, model_file

    messages = _read_messages(args.chat) if args.chat else None

    model = args.model or default_model()
    if model is None:
        raise UserError(_NO_MODEL)
    prompt_format = PromptFormat.vocab_only(model_file(model), _TOKENIZER_MODES[args.opencoder_tokenizer or "auto"])
    try:
        ids = prompt_format.ids(messages) if messages is not None else prompt_format.vocab.encode(_read_stdin())
    finally:
        prompt_format.close()
    print(json.dumps(ids))
    return 0


def _run_models(args: argparse.Namespace) -> int:
    from opencoder_local.models.listing import render

    print(render())
    return 0


def _run_pull(args: argparse.Namespace) -> int:
    from opencoder_local.models import pull
    from opencoder_local.progress import json_bars, size_text, terminal_bars

    # Bars only on a terminal; --progress json is for the app, which runs a pull in its own process.
    bars = json_bars(sys.stdout) if args.progress == "json" else terminal_bars(sys.stdout)
    if args.from_dir:
        result = pull.pull_from_dir(args.name, args.from_dir, bars, force=args.force)
    else:
        result = pull.pull(args.name, bars, keep_checkpoint=args.keep_checkpoint, force=args.force)
    manifest = result.model.manifest
    if args.progress == "json":
        print(json.dumps({"installed": result.model.name, "already": result.already, "path": str(result.model.path)}))
        return 0
    if result.already or manifest is None:
        print(f"{result.model.name} is already installed ({result.model.path}); --force pulls it again")
        return 0
    print(f"installed {manifest.name} ({size_text(manifest.size)}): {manifest.verification}")
    if result.kept is not None:
        print(f"the checkpoint stays in {result.kept}")
    elif result.freed:
        print(f"deleted the downloaded checkpoint: {size_text(result.freed)} freed")
    return 0


def _run_rm(args: argparse.Namespace) -> int:
    from opencoder_local.models import installed
    from opencoder_local.models.catalog import DEFAULT_QUANT
    from opencoder_local.progress import size_text

    model = installed.require(args.name, DEFAULT_QUANT)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"not removing {model.name} without asking: add --yes")
        answer = input(f"Remove {model.name} ({model.path})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept")
            return 1
    freed = installed.remove(model)
    print(f"removed {model.name}: {size_text(freed)} freed")
    return 0


def _run_calibrate(args: argparse.Namespace) -> int:
    from opencoder_local.models.registry import default_model, model_file, open_model
    from opencoder_local.settings import apply_flags, engine_options, load_config

    model = args.model or load_config().model or default_model()
    if model is None:
        raise UserError(_NO_MODEL)
    engine = open_model(model_file(model), engine_options(apply_flags(load_config(), threads=args.threads)),
                        isolated=False)
    try:
        table, path = engine.calibrate_lookup()
    finally:
        engine.close()
    costs = ", ".join(f"{size} tokens {cost:.2f}x" for size, cost in table.points)
    print(f"{engine.model_name} on {engine.n_threads} threads: {costs} a one-token decode; stored in {path}")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from opencoder_local.evaluation.command import EvalRequest, run_eval

    return run_eval(EvalRequest(args.model, args.data, args.limit, args.out, args.threads, args.tokenizer,
                                _TOKENIZER_MODES[args.opencoder_tokenizer or "auto"], args.no_sandbox))


def _eval_parser(sub) -> None:
    ev = sub.add_parser("eval", help="score models on HumanEval, generated code run in a sandbox")
    ev.add_argument("benchmark", choices=("humaneval",), help="the problems (HumanEval's 164, or --data)")
    ev.add_argument("-m", "--model", action="append", required=True,
                    help="a model as in opencoder-chat (name, .gguf path, demo, http://HOST:PORT); repeat to compare")
    ev.add_argument("--opencoder-tokenizer", choices=sorted(_TOKENIZER_MODES), default=None,
                    help="OpenCoder's exact pre-split tokenization (default auto)")
    ev.add_argument("--tokenizer", metavar="PATH_OR_NAME", help="with a server as --model: its vocabulary, or 'server'")
    ev.add_argument("--limit", type=int, metavar="N", help="the first N problems only")
    ev.add_argument("--out", metavar="FILE.jsonl", help="a row per problem; run again with it to resume")
    ev.add_argument("--threads", type=int, help="CPU threads for the model (default: the physical cores less one, "
                    "left to the programs being checked)")
    ev.add_argument("--data", metavar="FILE.jsonl", help="problems in HumanEval's format instead (HumanEval+, MBPP...)")
    ev.add_argument("--no-sandbox", action="store_true",
                    help="run generated code with rlimits alone where no sandbox is available (unsafe)")


def chat_main(argv: Sequence[str] | None = None) -> int:
    return run_guarded(lambda: _run_chat(refuse_undecodable(_chat_parser().parse_args(argv))), "opencoder-chat")


def _run_command(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="opencoder", description="A local, offline coding assistant.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("chat", help="chat with a model (same flags as opencoder-chat)", add_help=False)
    sub.add_parser("convert", help="convert a Hugging Face checkpoint to GGUF", add_help=False)
    sub.add_parser("models", help="list the installed models and those you can pull")
    pull_cmd = sub.add_parser("pull", help="download, convert, verify and install a model")
    pull_cmd.add_argument("name", help="opencoder-1.5b-instruct, opencoder-8b-instruct[:q5_k_m], ... or owner/repo[:TAG]")
    pull_cmd.add_argument("--keep-checkpoint", action="store_true", help="keep the downloaded checkpoint")
    pull_cmd.add_argument("--from-dir", metavar="PATH", help="convert this checkpoint folder instead of downloading")
    pull_cmd.add_argument("--force", action="store_true", help="pull again even if it is installed")
    pull_cmd.add_argument("--progress", choices=("bars", "json"), default="bars",
                          help="bars on a terminal (default), or JSON lines for a program")
    rm_cmd = sub.add_parser("rm", help="remove an installed model")
    rm_cmd.add_argument("name")
    rm_cmd.add_argument("-y", "--yes", action="store_true", help="do not ask")
    tok = sub.add_parser("tokenize", help="print the token ids of stdin (or of a chat) as a JSON array")
    _add_model_flags(tok)
    tok.add_argument("--chat", metavar="FILE.json", help="ids of the exact prompt this chat would send")
    calibrate = sub.add_parser("calibrate", help="measure what prompt lookup's batches cost on this machine, once")
    calibrate.add_argument("-m", "--model", help="model name or path to a .gguf file (default: as chat picks)")
    calibrate.add_argument("--threads", type=int, help="CPU threads (default: as chat uses)")
    _eval_parser(sub)
    args = refuse_undecodable(parser.parse_args(argv))
    commands = {"calibrate": _run_calibrate, "eval": _run_eval, "models": _run_models, "pull": _run_pull,
                "rm": _run_rm, "tokenize": _run_tokenize}
    return commands[args.command](args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "chat":
        return chat_main(argv[1:])
    if argv and argv[0] == "convert":
        from opencoder_convert.cli import main as convert_main

        return convert_main(argv[1:])
    interrupted = "interrupted"
    if argv and argv[0] == "pull":
        interrupted = "interrupted; run the same command again to resume where it stopped"
    return run_guarded(lambda: _run_command(argv), "opencoder", interrupted)


if __name__ == "__main__":
    sys.exit(main())
