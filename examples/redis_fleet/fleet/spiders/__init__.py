"""The fleet's spiders."""
