"""The image viewer: viewports, series loading, layouts, tools."""
