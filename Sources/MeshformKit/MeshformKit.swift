// MeshformKit: see ../shared/DESIGN.md
