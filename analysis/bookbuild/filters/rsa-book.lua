-- Cross references, numbered figures and callouts for the offline renderer.
-- Metadata: rsa-xref = {id = {text=..., href=...}}, rsa-target = "html" | "typst".
local xref = {}
local target = "html"

local function meta(m)
  if m["rsa-target"] then target = pandoc.utils.stringify(m["rsa-target"]) end
  if m["rsa-xref"] then
    for k, v in pairs(m["rsa-xref"]) do
      xref[k] = {text = pandoc.utils.stringify(v.text), href = pandoc.utils.stringify(v.href)}
    end
  end
  m["rsa-xref"] = nil
  return m
end

local function cite(el)
  local out = pandoc.List()
  for i, c in ipairs(el.citations) do
    local x = xref[c.id]
    if not x then
      if c.id:match("^fig%-") or c.id:match("^sec%-") or c.id:match("^tbl%-") then
        io.stderr:write("RSA-XREF-MISSING " .. c.id .. "\n")
        x = {text = "??" .. c.id, href = "#" .. c.id}
      else
        return nil
      end
    end
    if i > 1 then out:insert(pandoc.Str(", ")) end
    out:insert(pandoc.Link(x.text, x.href))
  end
  return out
end

local function div(el)
  if el.identifier:match("^fig%-") or el.identifier:match("^tbl%-") then
    local caption = pandoc.List()
    local content = pandoc.List()
    for _, b in ipairs(el.content) do
      if b.t == "Div" and b.classes:includes("rsa-caption") then
        caption = pandoc.utils.blocks_to_inlines(b.content)
      else
        content:insert(b)
      end
    end
    local x = xref[el.identifier]
    local prefix = x and x.text or "Figure"
    local cap = pandoc.List({pandoc.Strong(pandoc.Str(prefix .. ":")), pandoc.Space()})
    cap:extend(caption)
    return pandoc.Figure(content, {pandoc.Plain(cap)}, pandoc.Attr(el.identifier))
  end
  for _, cls in ipairs(el.classes) do
    if cls:match("^callout%-") then
      local title = el.attributes["title"] or ""
      if target == "typst" then
        local blocks = pandoc.List()
        blocks:insert(pandoc.RawBlock("typst",
          "#block(width: 100%, inset: 8pt, radius: 3pt, stroke: 0.8pt + rgb(\"#b58105\"), fill: rgb(\"#fff8e1\"))["))
        if title ~= "" then blocks:insert(pandoc.Para({pandoc.Strong(pandoc.Str(title))})) end
        blocks:extend(el.content)
        blocks:insert(pandoc.RawBlock("typst", "]"))
        return blocks
      else
        local blocks = pandoc.List()
        if title ~= "" then
          blocks:insert(pandoc.Div({pandoc.Plain({pandoc.Str(title)})}, pandoc.Attr("", {"callout-title"})))
        end
        blocks:extend(el.content)
        el.content = blocks
        el.classes:insert("callout")
        return el
      end
    end
  end
end

return {{Meta = meta}, {Cite = cite, Div = div}}
