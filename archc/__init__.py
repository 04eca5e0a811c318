"""archc: compile declarative CNN specs into PyTorch code, diagrams and cost reports."""
