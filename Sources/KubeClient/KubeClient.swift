// KubeClient: see ../shared/DESIGN.md
