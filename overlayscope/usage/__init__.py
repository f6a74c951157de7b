"""Where the disk went: sizes of layers, images and containers, answered from the model."""
