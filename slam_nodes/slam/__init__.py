"""slam"""
