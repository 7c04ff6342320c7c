"""One module per family of alert rule: each turns events (or detections) into samples."""
