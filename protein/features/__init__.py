"""Raw input features of one query, the analogue of AlphaFold2's features.pkl: sequence, MSA and template features
built from parsed alignments, template hits and mmCIF entries, and stored as .npz."""
