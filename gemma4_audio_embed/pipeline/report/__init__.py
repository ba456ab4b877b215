"""`gemma4-embed report OUTPUT_PREFIX`: one self-contained HTML page of plots about a finished run's corpus and embeddings.

`corpus.py` gathers the numbers (summary, index, dead letters, a sample of the records),
`figures.py` draws them with matplotlib, `page.py` writes the HTML, and `cli.py` is the command.
"""
