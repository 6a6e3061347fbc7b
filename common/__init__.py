"""What the VAE and the AAE share: data, networks, checkpoints, metrics, pictures, the loop."""
