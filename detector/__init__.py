"""Counterfeit-branding detector for marketplace listing photos."""
