"""GraphKD: graphkd package."""
