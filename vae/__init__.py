"""Variational Autoencoder with a 16-way categorical decoder on 4-bit images."""
