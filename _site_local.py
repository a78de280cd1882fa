"""Quarto post-render step (``project: post-render`` in ``_quarto.yml``): keep the site local.

Removes the CDN scripts Quarto adds (require.js, jQuery) and fails naming the page when
any script, stylesheet, image or font is still loaded from another host.
"""

from analysis.bookbuild.site import main

main()
