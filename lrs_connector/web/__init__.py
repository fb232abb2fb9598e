"""HTTP adapters: thin Flask blueprints that translate a request into one service call."""
