from rcm.cli.main import run

run()
