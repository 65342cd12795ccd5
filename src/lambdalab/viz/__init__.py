"""Pictures for the notebooks: face boxes on frames, timelines, state machines, before/after."""
