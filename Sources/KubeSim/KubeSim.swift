// KubeSim: see ../shared/DESIGN.md
