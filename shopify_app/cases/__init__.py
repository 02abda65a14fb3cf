"""Customer cases with reaction clocks: problem reports and questions from the store page, out-of-stock lines."""
