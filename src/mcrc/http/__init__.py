"""What the HTTP layers share, below both api and web: problem+json answers and the CDS Clients the server trusts."""
