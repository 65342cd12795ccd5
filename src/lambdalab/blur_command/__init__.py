"""The `blur` command's machinery, used by nothing else: a throw-away deployment made by running
notebook 02 (`throwaway`), one run of the pipeline on a local file (`pipeline_run`), and waiting
for work still in flight before the teardown (`inflight`)."""
