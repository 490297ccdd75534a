"""Image helpers the engines share.

Safe decoding (once per image), capture quality, MRZ optical reading, face detection
and face quality. Not ports: no engine is chosen here.
"""
