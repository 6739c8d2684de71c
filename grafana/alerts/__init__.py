"""Alert rules, one file per subject, each exposing ``GROUP``: a rule group of keyword-argument rules."""
