"""The command line: the typer app and its terminal rendering."""
