-- Argo CD health for ValidationSchema: Healthy once the latest spec is accepted as a version.
local hs = {}

local function condition(obj, kind)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

if obj.status == nil or obj.status.observedGeneration == nil
    or obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to check the latest schema"
  return hs
end

local ready = condition(obj, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "Version " .. tostring(obj.status.latestVersion or "?") .. " is live"
  return hs
end

if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  local live = ""
  if obj.status.latestVersion ~= nil then
    live = " (version " .. tostring(obj.status.latestVersion) .. " stays live)"
  end
  hs.message = (ready.reason or "NotReady") .. ": " .. (ready.message or "") .. live
  return hs
end

hs.status = "Progressing"
hs.message = "Waiting for the Ready condition"
return hs
