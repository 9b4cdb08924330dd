"""The outreach wing: programmes, publicity events and what hangs on them."""
