"""Adversarial Autoencoder with a deterministic (or optionally stochastic) encoder."""
