"""Who is calling: operators (user auth per AUTH_MODE) and agents (token auth)."""
