from zvt.cli import app

app()
