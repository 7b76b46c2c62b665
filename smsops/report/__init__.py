"""Views of a plan and a preview for people and tools: terminal text, the PR comment, JSON."""
