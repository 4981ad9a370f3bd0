// StateStore: see ../shared/DESIGN.md
