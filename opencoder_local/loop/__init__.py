"""The coding loop below the screen: run a command, find the test command, show the model what failed, commit."""
