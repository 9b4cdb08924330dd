from gridserve.app import create_app

app = create_app()
