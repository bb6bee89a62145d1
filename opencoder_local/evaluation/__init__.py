"""`opencoder eval`: a model's pass@1 on HumanEval (or a file in its format), with OpenCoder's own
prompts and post-processing, every generated program run in a sandbox."""
