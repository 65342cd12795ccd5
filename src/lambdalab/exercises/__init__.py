"""Checks for the notebooks' exercises: one module per notebook, one shared report.

A check runs the learner's code on the cases that matter, in the kernel, in seconds, with no cloud
call (AWS clients are botocore clients under a `Stubber`), and on failure raises an error whose
message is the whole story: expected against got, in the exercise's own terms, and the cell to fix.
"""
