"""The launch function's HTTP side: routes (thin), pages (HTML), and the errors people see."""
