"""Plain SQL, one module per table family; every function takes a connection first."""
