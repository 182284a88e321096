"""protein-platform: AlphaFold2 monomer structure prediction in JAX/Haiku.

    import protein
    predictions = protein.predict("MKTAYIAKQR...", msas=["uniref90_hits.sto"])   # ranked, best first
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `import protein` stays light (no JAX) until the prediction API is used.
    if name in ("predict", "Predictor"):
        from protein import predictor as _predictor

        return getattr(_predictor, name)
    if name == "Prediction":
        from protein.prediction import Prediction

        return Prediction
    raise AttributeError(f"module 'protein' has no attribute {name!r}")
