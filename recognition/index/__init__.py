"""FaceIndex implementations and the bookkeeping they share."""
