"""Shipping methods the checkout offers: flat or by weight bracket, per country."""
