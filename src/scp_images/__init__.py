"""scp-images: an SCP Virtual Server Image API compatible image service, SDK and CLI."""

__version__ = "0.1.0"
