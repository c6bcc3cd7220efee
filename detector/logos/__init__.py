"""The logo stages in one package: keypoints, shape and cnn, their embedders, index and shared geometry."""
