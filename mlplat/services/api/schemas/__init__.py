"""What the platform API's routes answer, as pydantic models: one module per router, apart from the domain types.

Each route declares its success model (``response_model=``), so FastAPI checks
what the route returns against it and /docs shows it, and its error answers
(``responses=errors(...)``), which all carry the one error body. A model whose
domain type's ``to_dict()`` is exactly the type's own fields is derived from
the dataclass (``mirror``), so the two cannot drift apart; every other shape
is written out here, as the wire has it.
"""
