"""EDI X12 trading partners: 850 purchase orders out; 855, 856, 846, 810 in; 997 functional acknowledgements both ways."""
